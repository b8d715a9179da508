// Training time around pauses and resumes: throughput and ETA leave paused time out, the ETA after
// a resume uses this session's steps only, and the run's time adds up its sessions.
#include "engine/ProgressClock.h"

#include <QtTest>

using rslora::engine::ProgressClock;

class ProgressClockTest : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void pausedTimeIsNoTrainingTime() {
        ProgressClock clock;
        clock.start(100.0, 0);
        // 10 steps of 1 s, 1000 tokens each.
        ProgressClock::Reading r = clock.read(110.0, 10, 60, 10000);
        QCOMPARE(r.tokensPerSecond, 1000.0);
        QCOMPARE(r.etaSeconds, 50.0);
        // Paused for 5 minutes during the next step (which itself took 1 s).
        clock.pause(110.5);
        QVERIFY(clock.paused());
        clock.resume(410.5);
        r = clock.read(411.0, 11, 60, 1000);
        QCOMPARE(r.tokensPerSecond, 1000.0); // no dip at the paused step
        QCOMPARE(r.etaSeconds, 49.0);        // 1 s per step, 49 left
        QCOMPARE(r.runSeconds, 11.0);
        // A second resume without a pause changes nothing.
        clock.resume(500.0);
        QCOMPARE(clock.sessionSeconds(500.0), 100.0);
    }

    void whilePausedTheClockStands() {
        ProgressClock clock;
        clock.start(0.0, 0);
        clock.pause(4.0);
        clock.pause(6.0); // ignored: already paused since 4 s
        QCOMPARE(clock.sessionSeconds(50.0), 4.0);
        clock.resume(50.0);
        QCOMPARE(clock.sessionSeconds(51.0), 5.0);
    }

    // Resumed at step 32 of 60 after 40 s of earlier training: 2 s per step in this session.
    void resumeMeasuresThisSession() {
        ProgressClock clock;
        clock.start(1000.0, 32, 40.0);
        const ProgressClock::Reading r = clock.read(1010.0, 37, 60, 5000);
        QCOMPARE(r.etaSeconds, 46.0); // 23 steps left at 2 s, not 10 s / 37 steps
        QCOMPARE(r.runSeconds, 50.0);
        QCOMPARE(r.tokensPerSecond, 500.0);
    }

    void noStepYetNoEta() {
        ProgressClock clock;
        clock.start(5.0, 12);
        const ProgressClock::Reading r = clock.read(5.0, 12, 60, 0);
        QCOMPARE(r.etaSeconds, 0.0);
        QCOMPARE(r.tokensPerSecond, 0.0);
    }
};

QTEST_GUILESS_MAIN(ProgressClockTest)
#include "ProgressClockTest.moc"

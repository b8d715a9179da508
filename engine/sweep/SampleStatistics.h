// Statistics over seeds: mean, sample standard deviation and n, and Welch's t-test (two-sided p from
// the Student t distribution through the regularized incomplete beta function). Pure functions.
#pragma once

#include <vector>

namespace rslora::engine {

struct SampleSummary {
    int n = 0;
    double mean = 0.0;  // NaN when n = 0
    double std = 0.0;   // sample standard deviation (n − 1 in the denominator); NaN when n < 2
};

// Summary of the finite values (NaN and infinities are left out: a diverged run is not a number).
SampleSummary summarize(const std::vector<double>& values);

// I_x(a, b) for a, b > 0 and 0 ≤ x ≤ 1 (continued fraction, Lentz's method); NaN outside.
double regularizedIncompleteBeta(double a, double b, double x);
// P(T ≤ t) for Student's t with `df` > 0 degrees of freedom (df need not be an integer).
double studentTCdf(double t, double df);

struct WelchResult {
    double t = 0.0;
    double df = 0.0;   // Welch–Satterthwaite
    double p = 0.0;    // two-sided; NaN when either sample has n < 2
};
// Welch's unequal-variances t-test of mean(a) = mean(b). Two samples without spread give p = 1 when
// their means are equal and p = 0 otherwise.
WelchResult welchTTest(const SampleSummary& a, const SampleSummary& b);

} // namespace rslora::engine

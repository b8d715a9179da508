// Mean, sample std, the regularized incomplete beta function, Student's t CDF and Welch's t-test.
#include "engine/sweep/SampleStatistics.h"

#include <cmath>
#include <limits>

namespace rslora::engine {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// The continued fraction of I_x(a, b) (converges fast for x < (a + 1) / (a + b + 2)), evaluated with
// the modified Lentz method.
double betaContinuedFraction(double a, double b, double x)
{
    constexpr double tiny = 1e-300, eps = 1e-15;
    const double qab = a + b, qap = a + 1.0, qam = a - 1.0;
    double c = 1.0;
    double d = 1.0 - qab * x / qap;
    if (std::fabs(d) < tiny)
        d = tiny;
    d = 1.0 / d;
    double h = d;
    // One Lentz update with the next partial numerator; returns the factor h is multiplied by.
    auto step = [&](double aa) {
        d = 1.0 + aa * d;
        if (std::fabs(d) < tiny)
            d = tiny;
        c = 1.0 + aa / c;
        if (std::fabs(c) < tiny)
            c = tiny;
        d = 1.0 / d;
        return d * c;
    };
    for (int m = 1; m <= 500; ++m) {
        const int m2 = 2 * m;
        // Even step: d_{2m} = m (b − m) x / ((a + 2m − 1)(a + 2m)).
        h *= step(m * (b - m) * x / ((qam + m2) * (a + m2)));
        // Odd step: d_{2m+1} = −(a + m)(a + b + m) x / ((a + 2m)(a + 2m + 1)).
        const double delta = step(-(a + m) * (qab + m) * x / ((a + m2) * (qap + m2)));
        h *= delta;
        if (std::fabs(delta - 1.0) < eps)
            break;
    }
    return h;
}

} // namespace

SampleSummary summarize(const std::vector<double>& values)
{
    SampleSummary s;
    double sum = 0.0;
    for (double v : values)
        if (std::isfinite(v)) {
            sum += v;
            ++s.n;
        }
    if (s.n == 0)
        return {0, kNaN, kNaN};
    s.mean = sum / s.n;
    if (s.n < 2) {
        s.std = kNaN;
        return s;
    }
    // Two passes: the squared deviations from the mean, not the difference of large sums.
    double ss = 0.0;
    for (double v : values)
        if (std::isfinite(v))
            ss += (v - s.mean) * (v - s.mean);
    s.std = std::sqrt(ss / (s.n - 1));
    return s;
}

double regularizedIncompleteBeta(double a, double b, double x)
{
    if (!(a > 0) || !(b > 0) || !(x >= 0) || !(x <= 1))
        return kNaN;
    if (x == 0.0 || x == 1.0)
        return x;
    // x^a (1 − x)^b / (a B(a, b)), in logarithms.
    const double lnFront = std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b) + a * std::log(x) + b * std::log1p(-x);
    const double front = std::exp(lnFront);
    // The symmetry I_x(a, b) = 1 − I_{1−x}(b, a) keeps the fraction in its fast region.
    if (x < (a + 1.0) / (a + b + 2.0))
        return front * betaContinuedFraction(a, b, x) / a;
    return 1.0 - front * betaContinuedFraction(b, a, 1.0 - x) / b;
}

double studentTCdf(double t, double df)
{
    if (!(df > 0) || std::isnan(t))
        return kNaN;
    if (std::isinf(t))
        return t > 0 ? 1.0 : 0.0;
    // P(|T| > |t|) = I_{df/(df+t²)}(df/2, 1/2).
    const double tail = regularizedIncompleteBeta(df / 2.0, 0.5, df / (df + t * t));
    return t >= 0 ? 1.0 - tail / 2.0 : tail / 2.0;
}

WelchResult welchTTest(const SampleSummary& a, const SampleSummary& b)
{
    WelchResult r;
    if (a.n < 2 || b.n < 2) {
        r.t = r.df = r.p = kNaN;
        return r;
    }
    const double va = a.std * a.std / a.n, vb = b.std * b.std / b.n;
    const double se2 = va + vb;
    if (se2 == 0.0) {
        r.t = a.mean == b.mean ? 0.0 : std::copysign(std::numeric_limits<double>::infinity(), a.mean - b.mean);
        r.df = double(a.n + b.n - 2);
        r.p = a.mean == b.mean ? 1.0 : 0.0;
        return r;
    }
    r.t = (a.mean - b.mean) / std::sqrt(se2);
    r.df = se2 * se2 / (va * va / (a.n - 1) + vb * vb / (b.n - 1));
    r.p = regularizedIncompleteBeta(r.df / 2.0, 0.5, r.df / (r.df + r.t * r.t));
    return r;
}

} // namespace rslora::engine

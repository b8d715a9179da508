// Integer arithmetic and number comparison of the chat-template interpreter (see JinjaIntegers.h).
#include "models/chat/JinjaIntegers.h"

#include "models/chat/JinjaHelpers.h"

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace rslora::models::jinja::detail {

namespace {

constexpr Wide kMin = static_cast<Wide>(INT64_MIN);
constexpr Wide kMax = static_cast<Wide>(UINT64_MAX);
// 2^64 as a double: every double at or above it exceeds every int of the range.
constexpr double kTwo64 = 18446744073709551616.0;

int bitLength(unsigned __int128 x) {
    int n = 0;
    while (x != 0) {
        x >>= 1;
        ++n;
    }
    return n;
}

// Exact comparison of an int of the range with a finite or infinite (not NaN) double.
int compareWithDouble(Wide i, double d) {
    if (d >= kTwo64)
        return -1;
    if (d < -kTwo64)
        return 1;
    const double f = std::floor(d);
    const Wide fi = static_cast<Wide>(f);
    if (i != fi)
        return i < fi ? -1 : 1;
    return f == d ? 0 : -1;
}

} // namespace

bool isIntegral(const Value& v) { return v.isInt() || v.isUInt() || v.isBool(); }

bool isNumeric(const Value& v) { return v.isNumber() || v.isBool(); }

Wide wideOf(const Value& v) {
    if (v.isUInt())
        return static_cast<Wide>(v.asUInt());
    if (v.isBool())
        return v.asBool() ? 1 : 0;
    return static_cast<Wide>(v.asInt());
}

std::optional<Value> fitInt(Wide w) {
    if (w < kMin || w > kMax)
        return std::nullopt;
    if (w <= static_cast<Wide>(INT64_MAX))
        return Value(static_cast<int64_t>(w));
    return Value(LargeUnsigned{static_cast<uint64_t>(w)});
}

Value intResult(Wide w, const std::string& what) {
    if (auto v = fitInt(w))
        return *v;
    fail("integer result of " + what + " is beyond 64 bits " + kIntegerRange);
}

std::string wideToString(Wide w) {
    if (w == 0)
        return "0";
    const bool negative = w < 0;
    unsigned __int128 u = negative ? static_cast<unsigned __int128>(-(w + 1)) + 1 : static_cast<unsigned __int128>(w);
    std::string digits;
    while (u != 0) {
        digits.insert(digits.begin(), static_cast<char>('0' + static_cast<int>(u % 10)));
        u /= 10;
    }
    return negative ? "-" + digits : digits;
}

std::optional<int> compareNumbers(const Value& a, const Value& b) {
    if (isIntegral(a) && isIntegral(b)) {
        const Wide x = wideOf(a), y = wideOf(b);
        return x < y ? -1 : x > y ? 1 : 0;
    }
    if (isIntegral(a)) {
        if (std::isnan(b.asFloat()))
            return std::nullopt;
        return compareWithDouble(wideOf(a), b.asFloat());
    }
    if (isIntegral(b)) {
        if (std::isnan(a.asFloat()))
            return std::nullopt;
        return -compareWithDouble(wideOf(b), a.asFloat());
    }
    const double x = a.asFloat(), y = b.asFloat();
    if (std::isnan(x) || std::isnan(y))
        return std::nullopt;
    return x < y ? -1 : x > y ? 1 : 0;
}

double trueDivide(Wide a, Wide b) {
    const bool negative = (a < 0) != (b < 0);
    const unsigned __int128 x = a < 0 ? static_cast<unsigned __int128>(-a) : static_cast<unsigned __int128>(a);
    const unsigned __int128 y = b < 0 ? static_cast<unsigned __int128>(-b) : static_cast<unsigned __int128>(b);
    if (x == 0)
        return negative ? -0.0 : 0.0;
    constexpr unsigned __int128 kExact = static_cast<unsigned __int128>(1) << 53;
    if (x <= kExact && y <= kExact) // both exact as doubles: one IEEE division rounds once
        return (negative ? -1.0 : 1.0) * (static_cast<double>(x) / static_cast<double>(y));
    // Scale the dividend so that the quotient has at least 55 bits, round its top 53 half to even with
    // the remainder as a sticky bit, then scale back.
    const int shift = std::max(0, 55 + bitLength(y) - bitLength(x));
    const unsigned __int128 n = x << shift;
    const unsigned __int128 q = n / y;
    const bool sticky = n % y != 0;
    const int drop = bitLength(q) - 53;
    unsigned __int128 mantissa = q >> drop;
    const unsigned __int128 rest = q & ((static_cast<unsigned __int128>(1) << drop) - 1);
    const unsigned __int128 half = static_cast<unsigned __int128>(1) << (drop - 1);
    if (rest > half || (rest == half && (sticky || (mantissa & 1) != 0)))
        ++mantissa;
    const double magnitude = std::ldexp(static_cast<double>(mantissa), drop - shift);
    return negative ? -magnitude : magnitude;
}

Wide floorDiv(Wide a, Wide b) {
    Wide q = a / b;
    const Wide r = a % b;
    if (r != 0 && ((r < 0) != (b < 0)))
        --q;
    return q;
}

Wide floorMod(Wide a, Wide b) {
    Wide r = a % b;
    if (r != 0 && ((r < 0) != (b < 0)))
        r += b;
    return r;
}

Value intPower(Wide base, Wide exponent, const std::string& what) {
    if (base == 0 || base == 1)
        return Value(static_cast<int64_t>(exponent == 0 ? 1 : base));
    if (base == -1)
        return Value(static_cast<int64_t>(exponent % 2 == 0 ? 1 : -1));
    // |base| >= 2: an exponent above 64 gives a result beyond 2^64 whatever the base.
    if (exponent > 64)
        intResult(kMax + 1, what);
    Wide result = 1;
    for (Wide i = 0; i < exponent; ++i) {
        if (__builtin_mul_overflow(result, base, &result) || result < kMin || result > kMax)
            intResult(kMax + 1, what);
    }
    return intResult(result, what);
}

} // namespace rslora::models::jinja::detail

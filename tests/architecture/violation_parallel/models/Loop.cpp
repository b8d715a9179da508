// Planted violation for the layer-rule test: a loop that would run on one thread.
#include <ATen/Parallel.h>

void scale(float* x, long n)
{
    at::parallel_for(0, n, 1024, [&](long b, long e) { for (long i = b; i < e; ++i) x[i] *= 2; });
}

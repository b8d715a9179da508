// OpenBLAS's own thread count, next to LibTorch's intra-op threads. Both matter on the CPU: ATen
// hands every matrix product to BLAS, which starts its own threads. Where no OpenBLAS is loaded
// (MKL, reference BLAS, CUDA) these do nothing.
#pragma once

namespace rslora::models {

// OpenBLAS's thread count, or 0 when OpenBLAS is not the loaded BLAS.
int blasThreads();
void setBlasThreads(int threads);

// Holds BLAS at one thread for a scope, for loops that run one small product on each intra-op
// thread (two BLAS thread pools on the same cores would halve both); restores the count at exit.
class SingleThreadedBlas {
public:
    SingleThreadedBlas();
    ~SingleThreadedBlas();
    SingleThreadedBlas(const SingleThreadedBlas&) = delete;
    SingleThreadedBlas& operator=(const SingleThreadedBlas&) = delete;

private:
    int previous_ = 0;
};

} // namespace rslora::models

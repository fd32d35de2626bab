#if defined(__x86_64__)
#include "kernels.h"
void cpu_kernels_avx2(struct cpu_kernels *k) { (void)k; }
#endif

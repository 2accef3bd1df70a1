// Matrix products.
#include "common.cuh"

// Counter-based random numbers.
#include "common.cuh"

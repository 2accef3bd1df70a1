// Convolutions.
#include "common.cuh"

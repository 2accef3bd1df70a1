// Reductions.
#include "common.cuh"

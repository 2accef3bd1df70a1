// Layout copies.
#include "common.cuh"

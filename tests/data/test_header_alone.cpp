// The same program as test_header_alone.c, compiled as C++: blasnet.h's extern "C" and its lists must hold.
#include "test_header_alone.c"

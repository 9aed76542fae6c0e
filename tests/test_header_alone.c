/* The public header must compile alone: this file includes nothing else first. */
#include "blasnet.h"

int main(void)
{
    bn_arch arch = {0};
    return arch.depth;
}

/* The fusebox C ABI test, in C11. See test_common.h. */
#include "test_common.h"

int main(int argc, char **argv) { return run_all(argc, argv, "C"); }

// tetherctl: a crictl-like CRI client of tetherd.
#include <iostream>

#include "tetherctl/cli.h"

int main(int argc, char** argv) { return tether::ctl::RunCli(argc, argv, std::cout, std::cerr); }

// main.cc - cow-tools entry point.
#include <iostream>

#include "commands.h"

int main(int argc, char **argv)
{
	std::ios::sync_with_stdio(false);
	return cowtools::cow_tools_main(argc, argv, std::cout, std::cerr);
}

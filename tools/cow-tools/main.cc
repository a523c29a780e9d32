// main.cc - cow-tools entry point.
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>

#include "commands.h"

int main(int argc, char **argv)
{
	std::ios::sync_with_stdio(false);
	int rc = cowtools::cow_tools_main(argc, argv, std::cout, std::cerr);

	// cow_tools_main flushed standard output and checked it; closing it
	// reports what a file system only reports at close.
	std::cout.flush();
	if (close(STDOUT_FILENO) != 0 && errno != EBADF) {
		std::cerr << "cow-tools: error closing standard output: " << std::strerror(errno) << "\n";
		return cowtools::kExitUsage;
	}
	return rc;
}

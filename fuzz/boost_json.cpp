// Boost.JSON compiled into the fuzz build (instead of the Debian library), so libFuzzer sees
// the coverage of the parser every input goes through first.
#include <boost/json/src.hpp>

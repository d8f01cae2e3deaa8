package main

// Main is the command's main, for main_test's TestMain: the test binary,
// run through a link named bundle, is the command (see there).
func Main() { main() }

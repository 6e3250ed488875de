"""Client tests: the tests of the client layer, run against the emulator and mocks."""

"""Plugins a test node process loads at startup (`VCOIN_TEST_PLUGIN`, see
`node.cli.load_test_plugin`): behaviour only the test suite may give a node."""

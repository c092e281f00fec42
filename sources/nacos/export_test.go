package nacos

// CasFailed exposes casFailed to the tests of package nacos_test.
var CasFailed = casFailed

// ParseServer exposes parseServer to the fuzz target.
var ParseServer = parseServer

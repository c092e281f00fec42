// Package modcheck holds a test that keeps the core module's requirements
// free of the SDKs that live in modules of their own (see go.work).
package modcheck

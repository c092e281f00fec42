// Package system implements Sentinel's system rules: service-wide limits on
// inbound traffic by pass QPS, concurrency, average response time, system load
// and CPU usage. All loaded rules merge into one threshold set, the smallest
// value of each field winning.
//
// The load check is adaptive, as in Sentinel: a load above the threshold
// rejects calls only while the inbound concurrency exceeds what the service has
// shown it can complete (max success QPS x min RT). Load and CPU usage are read
// by a background sampler (see Sampler and ProcSampler), never on the hot path.
package system

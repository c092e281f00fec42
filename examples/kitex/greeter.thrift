namespace go greeter

struct HelloRequest {
    1: string name
}

struct HelloReply {
    1: string message
}

service Greeter {
    // Hello greets; its flow rule allows a few calls per second.
    HelloReply Hello(1: HelloRequest req)
    // Flaky fails when the name is "fail"; its breaker opens after errors.
    HelloReply Flaky(1: HelloRequest req)
}

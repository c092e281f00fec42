package converter_test

import (
	"fmt"

	"github.com/rulesync/rulesync/converter"
)

func ExampleFlow() {
	payload := []byte(`[
	  // written by hand
	  {"resource": "GET:/orders", "count": "20", "burst": 5},
	  {"resource": "POST:/pay", "count": -1}
	]`)
	rules, rep, err := converter.Flow().Decode(payload)
	if err != nil {
		fmt.Println("unreadable:", err)
		return
	}
	for _, r := range rules {
		fmt.Printf("%s: %v QPS, warm-up %d s\n", r.Resource, r.Count, r.WarmUpPeriodSec)
	}
	fmt.Println(rep)
	out, _ := converter.Flow().Encode(rules)
	fmt.Print(string(out))
	// Output:
	// GET:/orders: 20 QPS, warm-up 10 s
	// json: 1/2 rules accepted; rejected rule 1 ("POST:/pay"): invalid flow rule: count -1 is not a finite number >= 0; unknown key "burst" in rule 0
	// [
	//   {
	//     "resource": "GET:/orders",
	//     "limitApp": "default",
	//     "grade": 1,
	//     "count": 20,
	//     "strategy": 0,
	//     "controlBehavior": 0,
	//     "warmUpPeriodSec": 10,
	//     "maxQueueingTimeMs": 500,
	//     "clusterMode": false
	//   }
	// ]
}

func ExampleGatewayFlow() {
	// The dashboard stores interval + intervalUnit (1 = minute).
	rules, _, _ := converter.GatewayFlow().Decode([]byte(`[{"resource":"orders_route","count":100,"interval":5,"intervalUnit":1}]`))
	fmt.Println(rules[0].IntervalSec)
	out, _ := converter.GatewayFlow(converter.WithDashboardFormat()).Encode(rules)
	fmt.Print(string(out))
	// Output:
	// 300
	// [
	//   {
	//     "resource": "orders_route",
	//     "resourceMode": 0,
	//     "grade": 1,
	//     "count": 100,
	//     "interval": 5,
	//     "intervalUnit": 1,
	//     "intervalSec": 300,
	//     "controlBehavior": 0,
	//     "burst": 0,
	//     "maxQueueingTimeoutMs": 500
	//   }
	// ]
}

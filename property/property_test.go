package property

import (
	"sync"
	"testing"
)

func TestSubscribeGetsCurrentAndChanges(t *testing.T) {
	p := New(WithInitial(1))
	var got []int
	cancel := p.Subscribe(func(v int) { got = append(got, v) })
	if !p.Update(2) {
		t.Fatal("Update(2) reported no change")
	}
	if p.Update(2) {
		t.Fatal("Update with an equal value reported a change")
	}
	p.Update(3)
	cancel()
	cancel()
	p.Update(4)
	want := []int{1, 2, 3}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	if n := p.Subscribers(); n != 0 {
		t.Fatalf("subscribers after cancel = %d", n)
	}
}

func TestNoValueNoCall(t *testing.T) {
	p := New[[]string]()
	called := false
	p.Subscribe(func([]string) { called = true })
	if called {
		t.Fatal("subscriber called before any value was set")
	}
	if _, ok := p.Get(); ok {
		t.Fatal("Get reported a value on a fresh property")
	}
	p.Update(nil)
	if !called {
		t.Fatal("first Update, even of the zero value, must notify")
	}
}

func TestCustomEqual(t *testing.T) {
	calls := 0
	p := New(WithEqual(func(a, b []int) bool { return len(a) == len(b) }))
	p.Subscribe(func([]int) { calls++ })
	p.Update([]int{1})
	p.Update([]int{2}) // same length: equal by this definition
	p.Update([]int{1, 2})
	if calls != 2 {
		t.Fatalf("calls = %d, want 2", calls)
	}
}

func TestConcurrentUpdatesSerialized(t *testing.T) {
	p := New[int]()
	var mu sync.Mutex
	inside := 0
	p.Subscribe(func(int) {
		mu.Lock()
		inside++
		if inside > 1 {
			t.Error("subscriber called concurrently")
		}
		mu.Unlock()
		mu.Lock()
		inside--
		mu.Unlock()
	})
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.Update(i)
			p.Get()
		}()
	}
	wg.Wait()
}

package property

import (
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"
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

// within fails the test when f does not return in a time no healthy run
// comes near: the property would have deadlocked.
func within(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not return: deadlock", what)
	}
}

func TestSubscriberMayCallGet(t *testing.T) {
	p := New(WithInitial(1))
	var seen []int
	within(t, "Subscribe whose subscriber calls Get", func() {
		p.Subscribe(func(v int) {
			cur, _ := p.Get()
			if cur != v {
				t.Errorf("Get inside the subscriber = %d, delivering %d", cur, v)
			}
			seen = append(seen, cur)
			_ = p.Subscribers()
		})
	})
	within(t, "Update whose subscriber calls Get", func() { p.Update(2) })
	if !slices.Equal(seen, []int{1, 2}) {
		t.Fatalf("subscriber saw %v, want [1 2]", seen)
	}
}

func TestSubscriberMayCancel(t *testing.T) {
	p := New[int]()
	var got []int
	var cancel func()
	cancel = p.Subscribe(func(v int) {
		got = append(got, v)
		cancel()
	})
	var other []int
	p.Subscribe(func(v int) { other = append(other, v) })
	// A subscriber cancelled by an earlier one during a delivery does not
	// get that value.
	var second func()
	p.Subscribe(func(int) { second() })
	var late []int
	second = p.Subscribe(func(v int) { late = append(late, v) })
	within(t, "Update whose subscriber cancels", func() { p.Update(1) })
	p.Update(2)
	if !slices.Equal(got, []int{1}) || !slices.Equal(other, []int{1, 2}) || len(late) != 0 {
		t.Fatalf("self-cancelling got %v (want [1]); other %v (want [1 2]); cancelled in delivery %v (want none)", got, other, late)
	}
}

// A Subscribe racing with Updates gets the current value first, then every
// later value once, in order: no gap, no duplicate.
func TestSubscribeRacingUpdatesHasNoGapNorDuplicate(t *testing.T) {
	const n = 2000
	for range 20 {
		p := New(WithInitial(0))
		var wg sync.WaitGroup
		wg.Go(func() {
			for i := 1; i <= n; i++ {
				p.Update(i)
			}
		})
		var got []int
		runtime.Gosched()
		p.Subscribe(func(v int) { got = append(got, v) })
		wg.Wait()
		for i := 1; i < len(got); i++ {
			if got[i] != got[i-1]+1 {
				t.Fatalf("subscriber saw %d after %d (first %d of %d values)", got[i], got[i-1], got[0], len(got))
			}
		}
		if len(got) == 0 || got[len(got)-1] != n {
			t.Fatalf("subscriber ended at %v, want %d", got[max(0, len(got)-1):], n)
		}
	}
}

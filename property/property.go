// Package property holds Property, an observable value: the current rules of one
// rule family, say, that rule managers subscribe to. A datasource updates it; an
// update equal to the current value does not reach subscribers.
package property

import (
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
)

// Property is a concurrency-safe observable value of type T.
//
// Subscribers are called serially, in subscription order, with the current
// value when they subscribe and then with every value that differs from the
// previous one: each subscriber sees the values in the order they were set,
// each once, without a gap, whatever Subscribe and Update race with.
//
// A subscriber runs on the goroutine of the Update (or Subscribe) that
// delivers the value, while further Updates and Subscribes of the property
// wait for it. Inside its callback a subscriber may call Get (it returns the
// value being delivered), Subscribers and any cancel func, and may touch other
// properties; it must not call Update or Subscribe on the same property,
// which would wait for itself for ever, nor block on something that waits for
// an Update of it. Keep callbacks short: a slow one delays every writer.
type Property[T any] struct {
	// deliver serializes Update and Subscribe, so that subscribers see
	// values in order; it is held while subscribers run. mu guards the
	// fields below and is never held while a subscriber runs, so that a
	// subscriber may call Get.
	deliver sync.Mutex
	mu      sync.Mutex
	value   T
	set     bool
	equal   func(a, b T) bool
	subs    []*subscriber[T]
}

type subscriber[T any] struct {
	fn       func(T)
	canceled atomic.Bool // set by cancel, so that a delivery under way skips it
}

// Option configures a Property.
type Option[T any] func(*Property[T])

// WithEqual sets the equality used to drop updates that change nothing. The default
// is reflect.DeepEqual, which is correct but slow for large rule sets.
func WithEqual[T any](eq func(a, b T) bool) Option[T] {
	return func(p *Property[T]) { p.equal = eq }
}

// WithInitial sets an initial value; subscribers are called with it when they subscribe.
func WithInitial[T any](v T) Option[T] {
	return func(p *Property[T]) { p.value, p.set = v, true }
}

// New returns a property with no value yet (Get returns the zero value and false).
func New[T any](opts ...Option[T]) *Property[T] {
	p := &Property[T]{}
	for _, o := range opts {
		o(p)
	}
	if p.equal == nil {
		p.equal = func(a, b T) bool { return reflect.DeepEqual(a, b) }
	}
	return p
}

// Get returns the current value and whether one was ever set.
func (p *Property[T]) Get() (T, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.value, p.set
}

// Update sets the value and notifies subscribers before it returns. It
// reports false, and notifies nobody, when v equals the current value.
func (p *Property[T]) Update(v T) bool {
	p.deliver.Lock()
	defer p.deliver.Unlock()
	p.mu.Lock()
	if p.set && p.equal(p.value, v) {
		p.mu.Unlock()
		return false
	}
	p.value, p.set = v, true
	subs := p.subs // Subscribe and cancel copy before they change it
	p.mu.Unlock()
	for _, s := range subs {
		if !s.canceled.Load() {
			s.fn(v)
		}
	}
	return true
}

// Subscribe registers fn. If a value is set, fn is called with it before Subscribe
// returns. The returned cancel stops further calls; it is safe to call more than
// once, also from inside a subscriber.
func (p *Property[T]) Subscribe(fn func(T)) (cancel func()) {
	p.deliver.Lock()
	defer p.deliver.Unlock()
	p.mu.Lock()
	s := &subscriber[T]{fn: fn}
	p.subs = append(p.subs[:len(p.subs):len(p.subs)], s)
	v, set := p.value, p.set
	p.mu.Unlock()
	if set {
		fn(v)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			s.canceled.Store(true)
			p.mu.Lock()
			defer p.mu.Unlock()
			p.subs = slices.DeleteFunc(slices.Clone(p.subs), func(x *subscriber[T]) bool { return x == s })
		})
	}
}

// Subscribers reports how many subscribers are registered.
func (p *Property[T]) Subscribers() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.subs)
}

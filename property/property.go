// Package property holds Property, an observable value: the current rules of one
// rule family, say, that rule managers subscribe to. A datasource updates it; an
// update equal to the current value does not reach subscribers.
package property

import (
	"reflect"
	"sync"
)

// Property is a concurrency-safe observable value of type T.
//
// Subscribers are called serially, in subscription order, with the current value
// when they subscribe and then with every value that differs from the previous one.
// A subscriber must not call Update on the same property from inside its callback.
type Property[T any] struct {
	mu     sync.Mutex // serializes Update and Subscribe so that listeners see values in order
	value  T
	set    bool
	equal  func(a, b T) bool
	nextID uint64
	subs   []subscriber[T]
}

type subscriber[T any] struct {
	id uint64
	fn func(T)
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

// Update sets the value and notifies subscribers. It reports false, and notifies
// nobody, when v equals the current value.
func (p *Property[T]) Update(v T) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.set && p.equal(p.value, v) {
		return false
	}
	p.value, p.set = v, true
	for _, s := range p.subs {
		s.fn(v)
	}
	return true
}

// Subscribe registers fn. If a value is set, fn is called with it before Subscribe
// returns. The returned cancel stops further calls; it is safe to call more than once.
func (p *Property[T]) Subscribe(fn func(T)) (cancel func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.nextID++
	id := p.nextID
	p.subs = append(p.subs, subscriber[T]{id: id, fn: fn})
	if p.set {
		fn(p.value)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			p.mu.Lock()
			defer p.mu.Unlock()
			for i, s := range p.subs {
				if s.id == id {
					p.subs = append(p.subs[:i:i], p.subs[i+1:]...)
					return
				}
			}
		})
	}
}

// Subscribers reports how many subscribers are registered.
func (p *Property[T]) Subscribers() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.subs)
}

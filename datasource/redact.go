package datasource

// Redactor may be implemented by a Source whose errors could quote a
// credential (a connection string with a password, say). The datasource passes
// every error message through Redact before it reaches Status, events or logs.
type Redactor interface {
	Redact(msg string) string
}

// WithRedact lists secrets (passwords, tokens) that must never appear in
// Status, events or logs; each occurrence in an error message is replaced by
// "REDACTED". Use it when a source's errors may quote them.
func WithRedact(secrets ...string) Option {
	return func(o *options) {
		for _, s := range secrets {
			if s != "" {
				o.secrets = append(o.secrets, s)
			}
		}
	}
}

// redactedError keeps the chain of the original error for errors.Is and
// errors.As while showing a cleaned message.
type redactedError struct {
	msg   string
	cause error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.cause }

// redact returns err with every known secret removed from its message.
func (d *DataSource[T]) redact(err error) error {
	if err == nil {
		return nil
	}
	r, isRedactor := d.src.(Redactor)
	if len(d.o.secrets) == 0 && !isRedactor {
		return err
	}
	msg := err.Error()
	if isRedactor {
		msg = r.Redact(msg)
	}
	msg = Secrets(d.o.secrets).Redact(msg)
	if msg == err.Error() {
		return err
	}
	return &redactedError{msg: msg, cause: err}
}

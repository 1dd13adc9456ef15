package cli

import "time"

// rateThrottle caps a rate of events per second with a token bucket. The
// bucket holds max(1, rate/100) tokens (10 ms worth), so a stall is not
// followed by a long burst. A rate <= 0 means unlimited.
type rateThrottle struct {
	rate   float64 // events per second
	burst  float64
	tokens float64
	last   time.Time
	now    func() time.Time
	sleep  func(time.Duration)
}

func newRateThrottle(perSecond float64) *rateThrottle {
	t := &rateThrottle{rate: perSecond, now: time.Now, sleep: time.Sleep}
	t.burst = max(1, perSecond/100)
	t.tokens = t.burst
	t.last = t.now()
	return t
}

// wait blocks until one event may go.
func (t *rateThrottle) wait() {
	if t.rate <= 0 {
		return
	}
	for {
		now := t.now()
		t.tokens = min(t.burst, t.tokens+now.Sub(t.last).Seconds()*t.rate)
		t.last = now
		if t.tokens >= 1 {
			t.tokens--
			return
		}
		t.sleep(time.Duration((1 - t.tokens) / t.rate * float64(time.Second)))
	}
}

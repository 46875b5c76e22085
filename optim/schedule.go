package optim

import "math"

// Schedule gives the learning rate for a 0-based step. Apply it before each
// optimizer Step with opt.SetLR(s.LR(step)).
type Schedule interface {
	LR(step int) float64
}

// StepLR multiplies Base by Gamma every StepSize steps (torch StepLR).
type StepLR struct {
	Base     float64
	StepSize int
	Gamma    float64
}

// LR returns Base * Gamma^(step / StepSize).
func (s StepLR) LR(step int) float64 {
	if s.StepSize <= 0 {
		return s.Base
	}
	return s.Base * math.Pow(s.Gamma, float64(step/s.StepSize))
}

// Cosine anneals from Base to Min over Steps steps along half a cosine
// (torch CosineAnnealingLR without restarts) and stays at Min afterwards.
type Cosine struct {
	Base, Min float64
	Steps     int
}

// LR returns the annealed rate.
func (s Cosine) LR(step int) float64 {
	if s.Steps <= 0 || step >= s.Steps {
		return s.Min
	}
	return s.Min + (s.Base-s.Min)*(1+math.Cos(math.Pi*float64(step)/float64(s.Steps)))/2
}

// Warmup scales the rate of Then linearly from 1/Steps at step 0 up to the
// full rate at step Steps-1, then follows Then (which sees the global step).
type Warmup struct {
	Steps int
	Then  Schedule
}

// LR returns the warmed-up rate.
func (s Warmup) LR(step int) float64 {
	lr := s.Then.LR(step)
	if step < s.Steps {
		lr *= float64(step+1) / float64(s.Steps)
	}
	return lr
}

package pipeline

// crewCounts sums the crews' counts: frames written, streams handed back
// for a backlog.
func crewCounts() (sent, backlogs int64) {
	pickCrew() // (makes them)
	for _, c := range crews.all {
		c.mu.Lock()
		sent += c.sent
		backlogs += c.backlogs
		c.mu.Unlock()
	}
	return sent, backlogs
}

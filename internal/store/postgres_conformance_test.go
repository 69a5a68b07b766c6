//go:build integration

package store

import (
	"testing"

	"github.com/rpinetboot/rpinetboot/internal/pgserver"
)

// TestConformancePostgres runs the Store contract against a real PostgreSQL
// server started for the test.
func TestConformancePostgres(t *testing.T) {
	srv := pgserver.Start(t)
	conformance(t, postgresBackend(srv))
}

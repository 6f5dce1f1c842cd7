// Package report owns the result schema of `cairn bench` (what --json
// prints and what compare writes as results.json) and renders results as
// an etcd-style text summary, a Markdown comparison table and a
// self-contained HTML report with inline SVG charts (no scripts, no
// network).
//
// report reads results; it does not run anything, and it must not import
// the workload, target or cluster packages.
package report

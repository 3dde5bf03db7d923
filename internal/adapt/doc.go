// Package adapt holds the small types that fit one package to another's
// interface, so that neither has to import the other: the SIP server's
// calls to internal/call (Inbound, SeatDialer), the media engine to the
// call layer (MediaFactory), the ACD to the call layer and to /metrics
// (Distributor, SeatMetrics), the database to the registrar's bans
// (SQLBans), the cluster to the SIP guard and the console (ClusterPeers,
// WebCluster, RelayRevisions), and the work-order worker to the app's
// lifecycle (Outbox).
//
// Each type only translates: no decision of its own beyond mapping errors
// and events from one vocabulary to the other. internal/app builds them;
// nothing else imports this package, and it never imports internal/app or
// cmd.
package adapt

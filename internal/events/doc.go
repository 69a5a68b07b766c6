// Package events tells the outside world that a board appeared for the first
// time: it runs a configured executable with the node's facts in its
// environment and/or POSTs them as JSON to a configured URL.
//
// Delivery never touches the DHCP answer: Fire only queues (a full queue
// drops the event with a warning), workers run each attempt under a timeout
// (a hung hook's whole process group is killed), failures are retried with
// exponential backoff, and every outcome is one log line with fields. Each
// MAC fires at most once per process, so a board retransmitting DISCOVERs
// (or a Pi 3 ROM sharing one xid with the whole rack) runs the hook once.
//
// macpin and proxydhcp share the stanza options parsed by ParseArg:
//
//	on-new=/usr/local/bin/new-node on-new-url=http://127.0.0.1:8080/hook
//	on-new-timeout=10s on-new-retries=5 on-new-backoff=1s
package events

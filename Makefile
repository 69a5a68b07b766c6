# rpinetboot — build, run and test. See README.md.
GO      ?= go
BIN     := bin
IFACE   ?=
FUZZTIME ?= 3s
# Integration tests boot QEMU and start our daemons in namespaces; give them room.
TESTTIMEOUT ?= 20m

.PHONY: all build deps run test unit fuzz vet clean install

PREFIX  ?= /usr/local
DESTDIR ?=

all: build

build:
	$(GO) build -o $(BIN)/ ./cmd/coredhcp ./cmd/rpi-tftpd ./cmd/rpinetctl

deps:
	./scripts/deps.sh

# sudo make run IFACE=eth0 — serve the boards on IFACE with config.yml.example.
run: deps build
	@test -n "$(IFACE)" || { echo "usage: sudo make run IFACE=<interface facing the boards>"; exit 2; }
	./scripts/run.sh $(IFACE)

# sudo make test (as root: make test) — everything: unit and integration
# tiers (network namespaces, real clients and peers, QEMU), then a fuzz
# smoke. The tests run with PATH holding only the programs of the packages
# in scripts/deps.list (scripts/testpath.sh), so a test that needs an
# unlisted tool fails here too, not only on a clean machine.
test: deps vet
	@[ "$$(id -u)" = 0 ] || { echo "make test: the integration tier needs root (network namespaces, ports 67/69): sudo make test (as root: make test); without root: make unit"; exit 2; }
	PATH="$$(./scripts/testpath.sh)" $(GO) test -count=1 -tags integration -timeout $(TESTTIMEOUT) ./...
	FUZZTIME=$(FUZZTIME) ./scripts/fuzz.sh

# make unit — the tests that need no root and no namespaces (files without
# the integration build tag), as any user.
unit:
	./scripts/deps.sh --check
	$(GO) test -count=1 ./...

fuzz:
	FUZZTIME=$(FUZZTIME) ./scripts/fuzz.sh

vet:
	$(GO) vet ./...
	$(GO) vet -tags integration ./...

clean:
	rm -rf $(BIN)

# make install [DESTDIR=...] — binaries, systemd units, the service user, and
# (only where absent) the example config, model table and TFTP tree.
install: build
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)/etc/systemd/system $(DESTDIR)/usr/lib/sysusers.d
	install -m 0755 $(BIN)/coredhcp $(BIN)/rpi-tftpd $(BIN)/rpinetctl $(DESTDIR)$(PREFIX)/bin/
	sed 's|/usr/local/bin/|$(PREFIX)/bin/|' packaging/systemd/rpinetboot-dhcp.service > $(DESTDIR)/etc/systemd/system/rpinetboot-dhcp.service
	sed 's|/usr/local/bin/|$(PREFIX)/bin/|' packaging/systemd/rpi-tftpd.service > $(DESTDIR)/etc/systemd/system/rpi-tftpd.service
	install -m 0644 packaging/sysusers.d/rpinetboot.conf $(DESTDIR)/usr/lib/sysusers.d/rpinetboot.conf
	install -D -m 0644 packaging/sysctl.d/50-rpinetboot.conf $(DESTDIR)/usr/lib/sysctl.d/50-rpinetboot.conf
	install -d $(DESTDIR)/etc/rpinetboot $(DESTDIR)/srv/rpinetboot/tftp
	test -e $(DESTDIR)/etc/rpinetboot/config.yml || install -m 0644 config.yml.example $(DESTDIR)/etc/rpinetboot/config.yml
	test -e $(DESTDIR)/etc/rpinetboot/models.yml || install -m 0644 examples/models.yml $(DESTDIR)/etc/rpinetboot/models.yml
	test -e $(DESTDIR)/srv/rpinetboot/tftp/default || cp -R examples/tftp/. $(DESTDIR)/srv/rpinetboot/tftp/
	@echo "installed; then: systemd-sysusers && sysctl --system && systemctl daemon-reload && systemctl enable --now rpinetboot-dhcp rpi-tftpd"

# sudo make demo [DEMOFLAGS="-boards 100 -plain"] — a virtual rack in network
# namespaces netboots from our coredhcp + rpi-tftpd on config.yml.example: 2
# U-Boot boards under QEMU and 50 simulated Pi 3B+/4/5, live view, < 1 min.
# The store stays in run/demo, so a second run reuses the pins.
.PHONY: demo
demo: deps build
	$(GO) build -o $(BIN)/ ./integration/cmd/piboard ./integration/cmd/rpinetboot-demo
	RPINETBOOT_BIN_DIR=$(BIN) $(BIN)/rpinetboot-demo $(DEMOFLAGS)

# sudo make bench [QUICK=1] [BENCHFLAGS=...] — rpinetboot against isc-dhcpd +
# tftpd-hpa, Kea and dnsmasq in namespaces; table on stdout, files in
# docs/bench/. Full run < 15 min, QUICK=1 < 2 min. See bench/README.md.
.PHONY: bench
bench: deps
	$(GO) run ./bench $(if $(filter 1,$(QUICK)),-quick) $(BENCHFLAGS)

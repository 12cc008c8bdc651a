#!/usr/bin/env bash
# Copies the fixtures the core tests need from the shared corpus (../shared/corpus, present on
# our machines and in CI only) into tests/data, with their provenance and licence rows.
# Only permissively licensed captures (MIT, BSD, Apache, MPL) are copied; run it again after
# changing the list below. tests/data/MANIFEST.tsv is the corpus manifest restricted to them.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
corpus=${CORPUS:-$here/../shared/corpus}
[ -d "$corpus" ] || { echo "corpus not found at $corpus" >&2; exit 1; }
dst=$here/tests/data
list=(
  OISF+suricata-verify/tests/dns/bug-1158/input.pcap
  OISF+suricata-verify/tests/dns/dns-tcp-multirequest-buffer/dns-tcp-multirequest-buffer.pcap
  OISF+suricata-verify/tests/dns/dns-incomplete/input.pcap
  OISF+suricata-verify/tests/dns/dns-forward-pointer/input.pcap
  OISF+suricata-verify/tests/dns/dns-corrupt-additionals/input.pcap
  OISF+suricata-verify/tests/dns/dns-truncated-rname/poc2.pcap
  OISF+suricata-verify/tests/datasets-08-state-ipv6/input.pcap
  OISF+suricata-verify/tests/llmnr/llmnr-udp/input.pcap
  OISF+suricata-verify/tests/dns-eve-v2-udp-nxdomain-soa/dns-udp-nxdomain-soa.pcap
  zeek+zeek/testing/btest/Traces/dns/mdns.pcap
  zeek+zeek/testing/btest/Traces/dns/max-compression-depth.pcap
  zeek+zeek/testing/btest/Traces/dns-caa.pcap
  zeek+zeek/testing/btest/Traces/dns-https.pcap
  zeek+zeek/testing/btest/Traces/dns-svcb.pcap
  zeek+zeek/testing/btest/Traces/dns-edns-ecs.pcap
  zeek+zeek/testing/btest/Traces/dnssec/nsec3param.pcap
  zeek+zeek/testing/btest/Traces/wikipedia.pcap
  zeek+zeek/testing/btest/Traces/ipv6-fragmented-dns.pcap
  the-tcpdump-group+tcpdump/tests/LINKTYPE_RAW_ipv4.pcap
  the-tcpdump-group+tcpdump/tests/LINKTYPE_RAW_ipv6.pcap
  the-tcpdump-group+tcpdump/tests/LINKTYPE_IPV4.pcap
  the-tcpdump-group+tcpdump/tests/LINKTYPE_IPV6.pcap
  the-tcpdump-group+tcpdump/tests/dns-zlip-1.pcap
  the-tcpdump-group+tcpdump/tests/dns_fwdptr.pcap
  the-tcpdump-group+tcpdump/tests/dns_udp_8053.pcap
  the-tcpdump-group+tcpdump/tests/time_2107.pcapng
  the-tcpdump-group+tcpdump/tests/nflog.pcap
  the-tcpdump-group+tcpdump/tests/dns-badcookie.pcap
  DNS-OARC+pcap-thread/hexdump/test/v4_frag_order_udp.pcap
  DNS-OARC+pcap-thread/hexdump/test/v6_frag_order_udp.pcap
  dns-stats+compactor/test-scripts/malformed.pcap
  dns-stats+compactor/test-scripts/gold.pcap
)
ipfix=(
  100-IPFIXv10-CISCO_traffic-00.ipfix
  106-IPFIXv10-HUAWEI-vrf_name_traffic-00.ipfix
  111-IPFIXv10-NFv9-IPv6-IPv4-mix_sources_traffic-01.ipfix
  softflowd_ipfix_biflow_udp_absms.ipfix
  pmacctd_nfprobe_ipfix_udp.ipfix
  python-ipfix_cert-dns-biflow.ipfix
)
rm -rf "$dst/pcap" "$dst/yaf" "$dst/ipfix"
mkdir -p "$dst/pcap" "$dst/yaf" "$dst/ipfix"
head -1 "$corpus/MANIFEST.tsv" > "$dst/MANIFEST.tsv"
for f in "${list[@]}"; do
  row=$(awk -F'\t' -v f="$f" '$1 == f' "$corpus/MANIFEST.tsv")
  lic=$(printf '%s' "$row" | cut -f5)
  case "$lic" in MIT*|BSD*|Apache*|MPL*|*Apache-2.0*) ;; *) echo "refusing $f: licence '$lic'" >&2; exit 1 ;; esac
  printf '%s\n' "$row" >> "$dst/MANIFEST.tsv"
  mkdir -p "$dst/pcap/$(dirname "$f")"
  cp "$corpus/pcap/$f" "$dst/pcap/$f"
  stem=${f%.*}
  for ext in yaf dump.txt; do
    if [ -f "$corpus/yaf/$stem.$ext" ]; then
      mkdir -p "$dst/yaf/$(dirname "$f")"
      cp "$corpus/yaf/$stem.$ext" "$dst/yaf/$stem.$ext"
    fi
  done
done
for f in "${ipfix[@]}"; do cp "$corpus/ipfix/$f" "$dst/ipfix/$f"; done
chmod -R u+w "$dst"
echo "copied ${#list[@]} captures and ${#ipfix[@]} IPFIX files into $dst"

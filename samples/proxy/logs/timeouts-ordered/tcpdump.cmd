tcpdump -i lo -s 0 -B 131072 -U --immediate-mode -n -Z root -w NAME.pcap 'tcp port 18440 or tcp port 18441'

// tests/peers/link_path.go — builds a path with Go's crypto/x509, as a Go device would:
// link_path ROOTS.pem INTERMEDIATES.pem LEAF.pem. Exit 0 and one line a certificate of the
// chain found (leaf first); exit 1 with Go's reason when no path verifies.
package main

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
)

func read(path string) []*x509.Certificate {
	data, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var out []*x509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return out
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			fmt.Fprintln(os.Stderr, path, err)
			os.Exit(2)
		}
		out = append(out, c)
	}
}

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: link_path ROOTS.pem INTERMEDIATES.pem LEAF.pem")
		os.Exit(2)
	}
	roots, intermediates := x509.NewCertPool(), x509.NewCertPool()
	for _, c := range read(os.Args[1]) {
		roots.AddCert(c)
	}
	for _, c := range read(os.Args[2]) {
		intermediates.AddCert(c)
	}
	leaf := read(os.Args[3])[0]
	chains, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: intermediates,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for _, c := range chains[0] {
		fmt.Printf("%s <- %s\n", c.Subject, c.Issuer)
	}
}

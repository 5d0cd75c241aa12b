// decode.go: decodes an EnOS answer (stdin) into Go structs whose field types are the EnOS SDK's
// and documentation's (DeviceCertDetailInfo and the rest), as a hub written in Go would. A field
// of another type, a field the struct does not have, or a field it has that the answer lacks is
// an error; on success the decoded struct is printed again as JSON.
//
// Usage: decode token|apply|renew|revoke|list|error < answer.json
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"
)

type TokenData struct {
	AccessToken string `json:"accessToken"`
	Expire      int    `json:"expire"`
}

type TokenResponse struct {
	Status   int        `json:"status"`
	Msg      string     `json:"msg"`
	Business string     `json:"business"`
	Data     *TokenData `json:"data"`
}

// apply and renew: the certificate and its chain.
type CertificateData struct {
	Cert           string `json:"cert"`
	CaCert         string `json:"caCert"`
	CertSN         string `json:"certSN"`
	CertChainURL   string `json:"certChainURL"`
	IssueAuthority string `json:"issueAuthority"`
}

type CertificateResponse struct {
	Code      int              `json:"code"`
	Msg       string           `json:"msg"`
	RequestID string           `json:"requestId"`
	Data      *CertificateData `json:"data"`
}

type Audit struct {
	CreateBy   string `json:"createBy"`
	CreateTime int64  `json:"createTime"`
	UpdateBy   string `json:"updateBy"`
	UpdateTime int64  `json:"updateTime"`
	Ns         string `json:"ns"`
	Deleted    bool   `json:"deleted"`
}

type DeviceCertDetailInfo struct {
	CertSN         string `json:"certSN"`
	Cert           string `json:"cert"`
	CertStatus     int    `json:"certStatus"`
	Issuer         string `json:"issuer"`
	Subject        string `json:"subject"`
	SignDate       int64  `json:"signDate"`
	EffetiveDate   int64  `json:"effetiveDate"`
	ExpireDate     int64  `json:"expireDate"`
	Audit          *Audit `json:"audit"`
	Revoker        string `json:"revoker"`
	RevokerReason  string `json:"revokerReason"`
	IsEnosCert     bool   `json:"isEnosCert"`
	IssueAuthority string `json:"issueAuthority"`
}

type ListResponse struct {
	Code      int                    `json:"code"`
	Msg       string                 `json:"msg"`
	RequestID string                 `json:"requestId"`
	Data      []DeviceCertDetailInfo `json:"data"`
}

// revoke answers with no data; a refusal of any call has no data either.
type EmptyResponse struct {
	Code      int    `json:"code"`
	Msg       string `json:"msg"`
	RequestID string `json:"requestId"`
}

// requireAll reports a JSON object key of the struct type t that `raw` lacks, recursively.
func requireAll(raw json.RawMessage, t reflect.Type, where string) error {
	for t.Kind() == reflect.Ptr {
		t = t.Elem()
	}
	if bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return nil
	}
	switch t.Kind() {
	case reflect.Slice:
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return err
		}
		for i, item := range items {
			if err := requireAll(item, t.Elem(), fmt.Sprintf("%s[%d]", where, i)); err != nil {
				return err
			}
		}
	case reflect.Struct:
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(raw, &fields); err != nil {
			return err
		}
		for i := 0; i < t.NumField(); i++ {
			name := strings.Split(t.Field(i).Tag.Get("json"), ",")[0]
			value, present := fields[name]
			if !present {
				return fmt.Errorf("%s.%s is missing", where, name)
			}
			if err := requireAll(value, t.Field(i).Type, where+"."+name); err != nil {
				return err
			}
		}
	}
	return nil
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: decode token|apply|renew|revoke|list|error < answer.json")
		os.Exit(2)
	}
	var target interface{}
	switch os.Args[1] {
	case "token":
		target = &TokenResponse{}
	case "apply", "renew":
		target = &CertificateResponse{}
	case "list":
		target = &ListResponse{}
	case "revoke", "error":
		target = &EmptyResponse{}
	default:
		fmt.Fprintln(os.Stderr, "unknown answer kind", os.Args[1])
		os.Exit(2)
	}
	input, err := io.ReadAll(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	decoder := json.NewDecoder(bytes.NewReader(input))
	decoder.DisallowUnknownFields()
	if err := decoder.Decode(target); err != nil {
		fmt.Fprintln(os.Stderr, "decode:", err)
		os.Exit(1)
	}
	if err := requireAll(input, reflect.TypeOf(target), "answer"); err != nil {
		fmt.Fprintln(os.Stderr, "decode:", err)
		os.Exit(1)
	}
	out, _ := json.Marshal(target)
	fmt.Println(string(out))
}

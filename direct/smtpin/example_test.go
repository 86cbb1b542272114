package smtpin_test

import (
	"fmt"
	"os"

	"github.com/referralgw/gateway/direct/smtpin"
)

func ExampleNew() {
	dir, err := os.MkdirTemp("", "spool")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	spool, err := smtpin.NewDirSpool(dir)
	if err != nil {
		fmt.Println(err)
		return
	}
	srv, err := smtpin.New(smtpin.Config{
		Addr:     "127.0.0.1:0",
		Hostname: "mx.direct.receiver.example",
		Domains:  []string{"direct.receiver.example"},
		Spool:    spool,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	// go srv.ListenAndServe()
	fmt.Println("configured")
	// Output: configured
}

package dirimport_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/referralgw/gateway/gateway"
	"github.com/referralgw/gateway/gateway/dirimport"
	"github.com/referralgw/gateway/gateway/litestore"
	"github.com/referralgw/gateway/gateway/storetest"
)

func ExampleNPPES() {
	file := `NPI,Endpoint Type,Endpoint Type Description,Endpoint,Affiliation,Endpoint Description,Affiliation Legal Business Name
9990000025,DIRECT,Direct Messaging Address,intake@direct.birchwood.example,N,,"Birchwood Cardiology, P.C."
9990000025,FHIR,FHIR URL,https://fhir.birchwood.example/r4,N,,"Birchwood Cardiology, P.C."
9990000041,SOAP,SOAP URL,https://soap.elm.example/ws,N,,Elm Imaging Center
`
	for it, err := range dirimport.NPPES(strings.NewReader(file), dirimport.NPPESOptions{}).All() {
		if err != nil {
			fmt.Println("fatal:", err)
			return
		}
		if e := it.Entry; e != nil {
			fmt.Println(e.ID, e.Kind, e.Name, e.Direct.Address, e.FHIR.BaseURL)
		}
		for _, s := range it.Skipped {
			fmt.Println(s)
		}
	}
	// Output:
	// npi-9990000025 organization Birchwood Cardiology, P.C. intake@direct.birchwood.example https://fhir.birchwood.example/r4
	// row 4: Endpoint Type: endpoint type "SOAP" is not imported (only DIRECT and FHIR)
}

func ExampleApply() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "dirimport-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	store, err := litestore.Open(ctx, filepath.Join(dir, "gateway.db"), storetest.FastQueue())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer store.Close()
	sealer, _ := gateway.NewSealer(bytes.Repeat([]byte{1}, 32))
	svc := gateway.NewService(store, sealer, nil, gateway.DefaultConfig(), nil)

	bundle := `{"resourceType":"Bundle","type":"collection","entry":[
	  {"resource":{"resourceType":"PractitionerRole","id":"role-ann","practitioner":{"reference":"Practitioner/prac-ann"},
	    "organization":{"reference":"Organization/org-birchwood"},"endpoint":[{"reference":"Endpoint/ep-ann"}]}},
	  {"resource":{"resourceType":"Practitioner","id":"prac-ann","name":[{"given":["Ann"],"family":"Testperson"}]}},
	  {"resource":{"resourceType":"Organization","id":"org-birchwood","name":"Birchwood Cardiology"}},
	  {"resource":{"resourceType":"Endpoint","id":"ep-ann","status":"active","address":"mailto:ann@direct.birchwood.example",
	    "connectionType":{"system":"http://terminology.hl7.org/CodeSystem/endpoint-connection-type","code":"direct-project"}}},
	  {"resource":{"resourceType":"Location","id":"loc-x","name":"Nowhere","managingOrganization":{"reference":"Organization/gone"}}}
	]}`
	actor := gateway.Actor{ID: "user:example-admin"}
	for range 2 { // the second import finds nothing to change
		rows, err := dirimport.FHIRBundle(strings.NewReader(bundle))
		if err != nil {
			fmt.Println(err)
			return
		}
		sum, err := dirimport.Apply(ctx, svc, actor, rows, nil)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(sum)
	}
	e, _ := svc.Entry(ctx, "role-ann")
	fmt.Println(e.Name, "under", e.ParentID, "at", e.Direct.Address)
	// Output:
	// added 2, updated 0, unchanged 0, skipped 1
	//   row 5: Location/loc-x.managingOrganization: unknown reference "Organization/gone" (not in the bundle)
	// added 0, updated 0, unchanged 2, skipped 1
	//   row 5: Location/loc-x.managingOrganization: unknown reference "Organization/gone" (not in the bundle)
	// Ann Testperson under org-birchwood at ann@direct.birchwood.example
}

func ExampleProgress() {
	start := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	now := start
	clock := func() time.Time { return now }
	var log bytes.Buffer // not a terminal: only the final line is written
	bar := dirimport.NewProgressClock(&log, 5000, "import", clock)
	for done := 1; done <= 5000; done++ {
		now = start.Add(time.Duration(done) * time.Millisecond)
		bar.Update(done, 0)
	}
	bar.Finish()
	fmt.Print(log.String())
	// Output:
	// import [==============================] 5000/5000 100% 1.0k/s
}

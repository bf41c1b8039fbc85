package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"regexp"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsopensearchserverless"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsopensearchservice"
	"github.com/aws/jsii-runtime-go"
)

// domain is a small managed OpenSearch domain: encrypted at rest and in
// transit, HTTPS only, no resource policy, so only IAM principals granted by
// identity policies (the functions' roles) can call it.
func (s *builder) domain() {
	d := awsopensearchservice.NewDomain(s.stack, s.str("Search"), &awsopensearchservice.DomainProps{
		Version: awsopensearchservice.EngineVersion_OPENSEARCH_2_19(),
		Capacity: &awsopensearchservice.CapacityConfig{DataNodes: jsii.Number(1), DataNodeInstanceType: s.str("t3.small.search"),
			MultiAzWithStandbyEnabled: jsii.Bool(false)},
		Ebs:                  &awsopensearchservice.EbsOptions{VolumeSize: jsii.Number(10), VolumeType: awsec2.EbsDeviceVolumeType_GP3},
		EncryptionAtRest:     &awsopensearchservice.EncryptionAtRestOptions{Enabled: jsii.Bool(true)},
		NodeToNodeEncryption: jsii.Bool(true),
		EnforceHttps:         jsii.Bool(true),
		TlsSecurityPolicy:    awsopensearchservice.TLSSecurityPolicy_TLS_1_2,
		Logging: &awsopensearchservice.LoggingOptions{SlowSearchLogEnabled: jsii.Bool(true), SlowIndexLogEnabled: jsii.Bool(true),
			AppLogEnabled: jsii.Bool(true)},
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY, // the index is rebuilt from the videos; the bucket and table are kept
	})
	s.osEndpoint = s.str("https://" + *d.DomainEndpoint())
	s.osService = "es"
	index := *d.DomainArn() + "/" + indexName
	s.osGrant = func(g awsiam.IGrantable, write bool) {
		actions := []string{"es:ESHttpGet", "es:ESHttpHead", "es:ESHttpPost"}
		if write {
			actions = append(actions, "es:ESHttpPut", "es:ESHttpDelete")
		}
		// The index and the later generations a model switch makes
		// (<index>-g<N>, osindex.Switching).
		g.GrantPrincipal().AddToPrincipalPolicy(s.statement(actions, s.str(index), s.str(index+"/*"), s.str(index+"-g*"), s.str(index+"-g*/*"),
			s.str(*d.DomainArn()+"/_bulk")))
	}
	// The api keeps the search pipeline of hybrid queries (normalization
	// processor) and may put nothing else at the domain level.
	s.osPipelineGrant = func(g awsiam.IGrantable) {
		g.GrantPrincipal().AddToPrincipalPolicy(s.statement([]string{"es:ESHttpGet", "es:ESHttpPut"},
			s.str(*d.DomainArn()+"/_search/pipeline/scenedex-hybrid")))
	}
	s.suppress(d, "AwsSolutions-OS5", "The domain has no resource-based policy and no anonymous access: a request must be SigV4-signed by an IAM identity "+
		"whose identity policy allows es:ESHttp* on this domain (only the api and embed roles).")
	s.suppress(d, "AwsSolutions-IAM5", "CDK's custom resource that lets the domain write its slow/application logs needs logs:PutResourcePolicy, which has no resource scope.")
	s.suppress(d, "AwsSolutions-OS1", "Functions run outside a VPC; the domain accepts only SigV4-signed requests from the functions' IAM roles over HTTPS.")
	s.suppress(d, "AwsSolutions-OS3", "Access is IAM-based (identity policies of the functions' roles), not IP-based.")
	s.suppress(d, "AwsSolutions-OS4", "A single small data node keeps the default deployment cheap; dedicated masters are for production sizing (see README).")
	s.suppress(d, "AwsSolutions-OS7", "Zone awareness needs two or more data nodes; the default is one (see README for production sizing).")
}

// serverlessCollection is an OpenSearch Serverless VECTORSEARCH collection
// with its encryption, network and data-access policies.
func (s *builder) serverlessCollection() {
	name := serverlessName(*s.stack.StackName())
	policy := func(v any) *string {
		b, _ := json.Marshal(v)
		return s.str(string(b))
	}
	collectionRes := "collection/" + name
	enc := awsopensearchserverless.NewCfnSecurityPolicy(s.stack, s.str("SearchEncryption"), &awsopensearchserverless.CfnSecurityPolicyProps{
		Name: s.str(name + "-enc"), Type: s.str("encryption"),
		Policy: policy(map[string]any{"Rules": []any{map[string]any{"ResourceType": "collection", "Resource": []string{collectionRes}}}, "AWSOwnedKey": true}),
	})
	net := awsopensearchserverless.NewCfnSecurityPolicy(s.stack, s.str("SearchNetwork"), &awsopensearchserverless.CfnSecurityPolicyProps{
		Name: s.str(name + "-net"), Type: s.str("network"),
		// Reachable over HTTPS with IAM (SigV4) auth only; the data-access
		// policy below names the only principals allowed.
		Policy: policy([]any{map[string]any{"Rules": []any{map[string]any{"ResourceType": "collection", "Resource": []string{collectionRes}}},
			"AllowFromPublic": true}}),
	})
	col := awsopensearchserverless.NewCfnCollection(s.stack, s.str("Search"), &awsopensearchserverless.CfnCollectionProps{
		Name: s.str(name), Type: s.str("VECTORSEARCH"), Description: s.str("scenedex chunk vectors"),
	})
	col.AddDependency(enc)
	col.AddDependency(net)
	s.osEndpoint = col.AttrCollectionEndpoint()
	s.osService = "aoss"
	var principals []*string
	s.osGrant = func(g awsiam.IGrantable, write bool) {
		g.GrantPrincipal().AddToPrincipalPolicy(s.statement([]string{"aoss:APIAccessAll"}, col.AttrArn()))
		if role, ok := g.(interface{ Role() awsiam.IRole }); ok && role.Role() != nil {
			principals = append(principals, role.Role().RoleArn())
		}
	}
	// The data-access policy names the roles granted above: finishSearch
	// writes it once every function exists.
	s.finishSearch = func() {
		awsopensearchserverless.NewCfnAccessPolicy(s.stack, s.str("SearchAccess"), &awsopensearchserverless.CfnAccessPolicyProps{
			Name: s.str(name + "-data"), Type: s.str("data"),
			Policy: awscdk.Stack_Of(s.stack).ToJsonString([]any{map[string]any{
				// The index and a model switch's generations of it; a switch
				// deletes the generation it replaced or cancelled.
				"Rules": []any{map[string]any{"ResourceType": "index",
					"Resource":   []string{"index/" + name + "/" + indexName, "index/" + name + "/" + indexName + "-g*"},
					"Permission": []string{"aoss:CreateIndex", "aoss:DescribeIndex", "aoss:UpdateIndex", "aoss:DeleteIndex", "aoss:ReadDocument", "aoss:WriteDocument"}}},
				"Principal": principals,
			}}, nil),
		})
	}
}

// serverlessName is the collection's name for a stack: lower case, at most
// 18 characters of the stack name plus a short hash of all of it, and "-vec" —
// so the collection stays within 28 characters and its policies ("-enc",
// "-net", "-data" appended) within 32, however long the stack name, and two
// stacks whose names share a long prefix do not collide.
func serverlessName(stack string) string {
	base := strings.Trim(nonName.ReplaceAllString(strings.ToLower(stack), "-"), "-")
	if len(base) > 18 {
		base = strings.TrimRight(base[:18], "-")
	}
	if base == "" || base[0] < 'a' || base[0] > 'z' {
		base = "s" + base
	}
	sum := sha256.Sum256([]byte(stack))
	return base + "-" + hex.EncodeToString(sum[:])[:4] + "-vec"
}

var nonName = regexp.MustCompile(`[^a-z0-9-]+`)

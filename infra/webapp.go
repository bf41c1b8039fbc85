package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2authorizers"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudfront"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudfrontorigins"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscognito"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3deployment"
	"github.com/aws/jsii-runtime-go"
)

// webAppFiles are the web app's assets (internal/webapp/static), deployed as
// the local server serves them: the page at /, the rest under /_app/.
var webAppFiles = map[string]string{"index.html": "index.html", "app.js": "_app/app.js", "logic.js": "_app/logic.js", "style.css": "_app/style.css"}

// appRoutes are the API routes the web app calls with its users' tokens
// (operators' routes — starting or cancelling a reindex, dead letters — stay
// IAM-only).
var appRoutes = map[string]bool{
	"POST /v1/videos": true, "POST /v1/videos/{id}/complete": true, "POST /v1/videos/{id}/parts": true,
	"GET /v1/videos": true, "GET /v1/videos/{id}": true, "DELETE /v1/videos/{id}": true,
	"POST /v1/videos/{id}/reprocess": true, "POST /v1/search": true, "POST /v1/concepts": true, "GET /healthz": true,
	"GET /v1/reindex": true, // the live model and a switch's progress, shown in the library (starting one stays IAM-only)
}

// webApp hosts the app: a private bucket behind CloudFront (origin access
// control, HTTPS only, security headers), sign-in with a Cognito user pool
// (hosted UI, authorization code + PKCE), and a second HTTP API over the same
// functions that takes the pool's JWTs — IAM SigV4 stays on the first one for
// the CLI and the SDK. It returns the app's origin for the media bucket's CORS.
func (s *builder) webApp() {
	site := awss3.NewBucket(s.stack, s.str("Site"), &awss3.BucketProps{
		Encryption: awss3.BucketEncryption_S3_MANAGED, EnforceSSL: jsii.Bool(true),
		BlockPublicAccess: awss3.BlockPublicAccess_BLOCK_ALL(), ServerAccessLogsBucket: s.logs, ServerAccessLogsPrefix: s.str("site/"),
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY, AutoDeleteObjects: jsii.Bool(true),
	})
	region := *awscdk.Aws_REGION()
	// Presigned links, the API and Cognito's token endpoint are on AWS
	// regional hosts the page cannot know before deploy without a cycle
	// (each names the app's origin), so the policy names their domains.
	aws := func(pattern string) string { return strings.ReplaceAll(pattern, "REGION", region) }
	storage := aws("https://*.s3.REGION.amazonaws.com https://*.s3.amazonaws.com")
	csp := strings.Join([]string{"default-src 'self'", "script-src 'self'", "style-src 'self'",
		"img-src 'self' blob: data: " + storage, "media-src 'self' blob: " + storage,
		"connect-src 'self' " + storage + aws(" https://*.execute-api.REGION.amazonaws.com https://*.auth.REGION.amazoncognito.com"),
		"object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'", "form-action 'self'"}, "; ")
	headers := awscloudfront.NewResponseHeadersPolicy(s.stack, s.str("SiteHeaders"), &awscloudfront.ResponseHeadersPolicyProps{
		Comment: s.str("scenedex web app: CSP, HSTS, nosniff, no framing, no referrer"),
		SecurityHeadersBehavior: &awscloudfront.ResponseSecurityHeadersBehavior{
			ContentSecurityPolicy: &awscloudfront.ResponseHeadersContentSecurityPolicy{ContentSecurityPolicy: s.str(csp), Override: jsii.Bool(true)},
			ContentTypeOptions:    &awscloudfront.ResponseHeadersContentTypeOptions{Override: jsii.Bool(true)},
			FrameOptions:          &awscloudfront.ResponseHeadersFrameOptions{FrameOption: awscloudfront.HeadersFrameOption_DENY, Override: jsii.Bool(true)},
			ReferrerPolicy:        &awscloudfront.ResponseHeadersReferrerPolicy{ReferrerPolicy: awscloudfront.HeadersReferrerPolicy_NO_REFERRER, Override: jsii.Bool(true)},
			StrictTransportSecurity: &awscloudfront.ResponseHeadersStrictTransportSecurity{AccessControlMaxAge: awscdk.Duration_Days(jsii.Number(365)),
				IncludeSubdomains: jsii.Bool(true), Override: jsii.Bool(true)},
		},
	})
	dist := awscloudfront.NewDistribution(s.stack, s.str("SiteDistribution"), &awscloudfront.DistributionProps{
		Comment: s.str("scenedex web app"),
		DefaultBehavior: &awscloudfront.BehaviorOptions{
			Origin:                awscloudfrontorigins.S3BucketOrigin_WithOriginAccessControl(site, nil),
			ViewerProtocolPolicy:  awscloudfront.ViewerProtocolPolicy_REDIRECT_TO_HTTPS,
			ResponseHeadersPolicy: headers,
			// Small files that change with each deploy (which invalidates):
			// browsers revalidate.
			CachePolicy: awscloudfront.CachePolicy_CACHING_OPTIMIZED(),
		},
		DefaultRootObject: s.str("index.html"),
		EnableLogging:     jsii.Bool(true), LogBucket: s.logs, LogFilePrefix: s.str("cloudfront/"),
	})
	origin := "https://" + *dist.DistributionDomainName()

	pool := awscognito.NewUserPool(s.stack, s.str("Users"), &awscognito.UserPoolProps{
		SelfSignUpEnabled: jsii.Bool(false), // an administrator adds people (see the AddUser output)
		SignInAliases:     &awscognito.SignInAliases{Email: jsii.Bool(true)},
		AutoVerify:        &awscognito.AutoVerifiedAttrs{Email: jsii.Bool(true)},
		PasswordPolicy: &awscognito.PasswordPolicy{MinLength: jsii.Number(12), RequireLowercase: jsii.Bool(true),
			RequireUppercase: jsii.Bool(true), RequireDigits: jsii.Bool(true), RequireSymbols: jsii.Bool(true),
			TempPasswordValidity: awscdk.Duration_Days(jsii.Number(3))},
		Mfa:             awscognito.Mfa_REQUIRED,
		MfaSecondFactor: &awscognito.MfaSecondFactor{Otp: jsii.Bool(true), Sms: jsii.Bool(false)},
		AccountRecovery: awscognito.AccountRecovery_EMAIL_ONLY,
		FeaturePlan:     awscognito.FeaturePlan_ESSENTIALS,
		RemovalPolicy:   awscdk.RemovalPolicy_RETAIN,
	})
	domain := pool.AddDomain(s.str("UsersDomain"), &awscognito.UserPoolDomainOptions{
		CognitoDomain: &awscognito.CognitoDomainOptions{DomainPrefix: awscdk.Fn_Join(s.str(""),
			&[]*string{s.str(domainSlug(*s.stack.StackName()) + "-"), awscdk.Aws_ACCOUNT_ID()})},
	})
	appClient := pool.AddClient(s.str("WebApp"), &awscognito.UserPoolClientOptions{
		GenerateSecret: jsii.Bool(false), // a public client: the browser holds no secret; PKCE protects the code
		AuthFlows:      &awscognito.AuthFlow{},
		OAuth: &awscognito.OAuthSettings{
			Flows:        &awscognito.OAuthFlows{AuthorizationCodeGrant: jsii.Bool(true)},
			Scopes:       &[]awscognito.OAuthScope{awscognito.OAuthScope_OPENID(), awscognito.OAuthScope_EMAIL()},
			CallbackUrls: jsii.Strings(origin + "/"), LogoutUrls: jsii.Strings(origin + "/"),
		},
		SupportedIdentityProviders: &[]awscognito.UserPoolClientIdentityProvider{awscognito.UserPoolClientIdentityProvider_COGNITO()},
		AccessTokenValidity:        awscdk.Duration_Hours(jsii.Number(1)), IdTokenValidity: awscdk.Duration_Hours(jsii.Number(1)),
		RefreshTokenValidity: awscdk.Duration_Days(jsii.Number(1)), PreventUserExistenceErrors: jsii.Bool(true),
		EnableTokenRevocation: jsii.Bool(true),
	})

	logGroup := awslogs.NewLogGroup(s.stack, s.str("AppApiAccessLogs"), &awslogs.LogGroupProps{
		Retention: awslogs.RetentionDays_ONE_MONTH, RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	appAPI := awsapigatewayv2.NewHttpApi(s.stack, s.str("AppApi"), &awsapigatewayv2.HttpApiProps{
		Description: s.str("scenedex HTTP API v1 for the web app (Cognito user pool JWTs)"),
		DefaultAuthorizer: awsapigatewayv2authorizers.NewHttpUserPoolAuthorizer(s.str("AppUsers"), pool,
			&awsapigatewayv2authorizers.HttpUserPoolAuthorizerProps{UserPoolClients: &[]awscognito.IUserPoolClient{appClient}}),
		CorsPreflight: &awsapigatewayv2.CorsPreflightOptions{
			AllowOrigins: jsii.Strings(origin),
			AllowMethods: &[]awsapigatewayv2.CorsHttpMethod{awsapigatewayv2.CorsHttpMethod_GET, awsapigatewayv2.CorsHttpMethod_POST,
				awsapigatewayv2.CorsHttpMethod_DELETE},
			AllowHeaders: jsii.Strings("authorization", "content-type"), MaxAge: awscdk.Duration_Hours(jsii.Number(1)),
		},
		CreateDefaultStage: jsii.Bool(true),
	})
	s.accessLogs(appAPI, logGroup)
	for _, r := range s.routes("App") {
		if appRoutes[string(r.method)+" "+r.path] {
			appAPI.AddRoutes(&awsapigatewayv2.AddRoutesOptions{Path: s.str(r.path), Methods: &[]awsapigatewayv2.HttpMethod{r.method}, Integration: r.to})
		}
	}

	sources := []awss3deployment.ISource{awss3deployment.Source_JsonData(s.str("_app/config.json"), map[string]any{
		"api": appAPI.ApiEndpoint(),
		"auth": map[string]any{
			"domain":   awscdk.Fn_Join(s.str(""), &[]*string{s.str("https://"), domain.DomainName(), s.str(".auth." + region + ".amazoncognito.com")}),
			"clientId": appClient.UserPoolClientId(), "redirect": s.str(origin + "/"),
		},
	}, nil)}
	dir := filepath.Join(s.cfg.RepoDir, "internal", "webapp", "static")
	for file, key := range webAppFiles {
		b, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			panic("the web app's assets: " + err.Error())
		}
		sources = append(sources, awss3deployment.Source_Data(s.str(key), s.str(string(b)), nil))
	}
	awss3deployment.NewBucketDeployment(s.stack, s.str("SiteFiles"), &awss3deployment.BucketDeploymentProps{
		DestinationBucket: site, Sources: &sources, Distribution: dist, DistributionPaths: jsii.Strings("/*"),
		CacheControl: &[]awss3deployment.CacheControl{awss3deployment.CacheControl_NoCache()},
	})
	s.suppress(dist, "AwsSolutions-CFR4", "The app is served on CloudFront's default *.cloudfront.net domain and certificate, whose "+
		"security policy CloudFront fixes; HTTPS is enforced (HTTP redirects) and browsers negotiate TLS 1.2 or later with it.")
	s.suppress(dist, "AwsSolutions-CFR1", "The app is for the deployer's own users, who sign in; no country is excluded by default.")
	s.suppress(dist, "AwsSolutions-CFR2", "The distribution serves four static files; the data is behind the JWT-authorized API, "+
		"so a WAF web ACL (a per-month cost) is left to the deployer.")
	s.suppress(pool, "AwsSolutions-COG8", "The Plus feature plan's threat protection is a per-user cost; the pool takes no self sign-up, "+
		"requires MFA (TOTP) and 12-character passwords.")
	s.appOrigin = origin
	s.out("AppUrl", origin+"/", "the web app (sign in with a user of the pool: see AddUser)")
	s.out("AppApiUrl", *appAPI.ApiEndpoint(), "the API the web app calls with its users' tokens")
	s.out("UserPoolId", *pool.UserPoolId(), "the app's users")
	s.out("AddUser", "aws cognito-idp admin-create-user --user-pool-id "+*pool.UserPoolId()+" --username YOU@EXAMPLE.COM "+
		"--user-attributes Name=email,Value=YOU@EXAMPLE.COM Name=email_verified,Value=true",
		"adds a user: Cognito emails a temporary password; the first sign-in sets a new one and an authenticator app (MFA)")
}

var notSlug = regexp.MustCompile(`[^a-z0-9-]+`)

// domainSlug makes a Cognito domain prefix from a stack name: lowercase
// letters, digits and hyphens, without the words Cognito refuses.
func domainSlug(name string) string {
	s := notSlug.ReplaceAllString(strings.ToLower(name), "-")
	for _, w := range []string{"cognito", "amazon", "aws"} {
		s = strings.ReplaceAll(s, w, "x")
	}
	s = strings.Trim(s, "-")
	if len(s) > 40 {
		s = s[:40]
	}
	if s == "" {
		s = "scenedex"
	}
	return s
}

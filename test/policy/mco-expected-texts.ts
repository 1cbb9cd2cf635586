/**
 * Expected policy.json texts of the MCO's own tests, copied verbatim (tabs and all) from
 * github.com/openshift/machine-config-operator at 7ff337a4ffac8e7562692181178ede61e4b2eec5,
 * pkg/controller/container-runtime-config/helpers_test.go. The MCO compares them with
 * require.JSONEq (order and layout insensitive); so do the tests that use them.
 */

/** helpers_test.go lines 1946-2025: TestGeneratePolicyJSON, expectClusterPolicy: updatePolicyJSON of ClusterImagePolicies test-cr0 and test-cr3. */
export const GENERATE_POLICY_JSON_CLUSTER = `		{
			"default": [
			  {
				"type": "insecureAcceptAnything"
			  }
			],
			"transports": {
				"atomic": {
					"test0.com": [
					  {
						"type": "sigstoreSigned",
						"fulcio": {
						  "caData": "dGVzdC1jYS1kYXRhLWRhdGE=",
						  "oidcIssuer": "https://OIDC.example.com",
						  "subjectEmail": "test-user@example.com"
						},
						"rekorPublicKeyData": "dGVzdC1yZWtvci1rZXktZGF0YQ==",
						"signedIdentity": {
						  "type": "remapIdentity",
						  "prefix": "test-remap-prefix",
						  "signedPrefix": "test-remap-signed-prefix"
						}
					  }
					],
					"test3.com/ns/repo": [
                      {
					    "type": "sigstoreSigned",
                        "pki": {
						  "caRootsData": "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJBVEE9Ci0tLS0tRU5EIENFUlRJRklDQVRFLS0tLS0=",
						  "caIntermediatesData": "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJBVEE9Ci0tLS0tRU5EIENFUlRJRklDQVRFLS0tLS0=",
						  "subjectEmail": "test-user@example.com",
						  "subjectHostname": "my-host.example.com"
						},
						"signedIdentity": {
						  "type": "matchRepoDigestOrExact"
						}
					  }
					]
				  },	
			  "docker": {
				"test0.com": [
				  {
					"type": "sigstoreSigned",
					"fulcio": {
					  "caData": "dGVzdC1jYS1kYXRhLWRhdGE=",
					  "oidcIssuer": "https://OIDC.example.com",
					  "subjectEmail": "test-user@example.com"
					},
					"rekorPublicKeyData": "dGVzdC1yZWtvci1rZXktZGF0YQ==",
					"signedIdentity": {
					  "type": "remapIdentity",
					  "prefix": "test-remap-prefix",
					  "signedPrefix": "test-remap-signed-prefix"
					}
				  }
				],
				"test3.com/ns/repo": [
                  {
					"type": "sigstoreSigned",
					"pki": {
					  "caRootsData": "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJBVEE9Ci0tLS0tRU5EIENFUlRJRklDQVRFLS0tLS0=",
					  "caIntermediatesData": "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJBVEE9Ci0tLS0tRU5EIENFUlRJRklDQVRFLS0tLS0=",
					  "subjectEmail": "test-user@example.com",
					  "subjectHostname": "my-host.example.com"
					},
					"signedIdentity": {
					  "type": "matchRepoDigestOrExact"
					}
				   }
				]				
			  },
			  "docker-daemon": {
				"": [
				  {
					"type": "insecureAcceptAnything"
				  }
				]
			  }
			}
		  }`;

/** helpers_test.go lines 2196-2291: TestUpdateNamespacedPolicyJSONs, expectClusterPolicy: updatePolicyJSON of ClusterImagePolicies test-cr0 and test-cr1. */
export const NAMESPACED_CLUSTER = `			{
				"default": [
				  {
					"type": "insecureAcceptAnything"
				  }
				],
				"transports": {
				  "atomic": {
					"test0.com": [
					  {
						"type": "sigstoreSigned",
						"fulcio": {
						  "caData": "dGVzdC1jYS1kYXRhLWRhdGE=",
						  "oidcIssuer": "https://OIDC.example.com",
						  "subjectEmail": "test-user@example.com"
						},
						"rekorPublicKeyData": "dGVzdC1yZWtvci1rZXktZGF0YQ==",
						"signedIdentity": {
						  "type": "remapIdentity",
						  "prefix": "test-remap-prefix",
						  "signedPrefix": "test-remap-signed-prefix"
						}
					  },
					  {
						"type": "sigstoreSigned",
						"keyData": "dGVzdC1rZXktZGF0YQ==",
						"rekorPublicKeyData": "dGVzdC1yZWtvci1rZXktZGF0YQ==",
						"signedIdentity": {
						  "type": "remapIdentity",
						  "prefix": "test-remap-prefix",
						  "signedPrefix": "test-remap-signed-prefix"
						}
					  }
					],
					"test1.com": [
					  {
						"type": "sigstoreSigned",
						"keyData": "dGVzdC1rZXktZGF0YQ==",
						"rekorPublicKeyData": "dGVzdC1yZWtvci1rZXktZGF0YQ==",
						"signedIdentity": {
						  "type": "remapIdentity",
						  "prefix": "test-remap-prefix",
						  "signedPrefix": "test-remap-signed-prefix"
						}
					  }
					]
				  },
				  "docker": {
					"test0.com": [
					  {
						"type": "sigstoreSigned",
						"fulcio": {
						  "caData": "dGVzdC1jYS1kYXRhLWRhdGE=",
						  "oidcIssuer": "https://OIDC.example.com",
						  "subjectEmail": "test-user@example.com"
						},
						"rekorPublicKeyData": "dGVzdC1yZWtvci1rZXktZGF0YQ==",
						"signedIdentity": {
						  "type": "remapIdentity",
						  "prefix": "test-remap-prefix",
						  "signedPrefix": "test-remap-signed-prefix"
						}
					  },
					  {
						"type": "sigstoreSigned",
						"keyData": "dGVzdC1rZXktZGF0YQ==",
						"rekorPublicKeyData": "dGVzdC1yZWtvci1rZXktZGF0YQ==",
						"signedIdentity": {
						  "type": "remapIdentity",
						  "prefix": "test-remap-prefix",
						  "signedPrefix": "test-remap-signed-prefix"
						}
					  }
					],
					"test1.com": [
					  {
						"type": "sigstoreSigned",
						"keyData": "dGVzdC1rZXktZGF0YQ==",
						"rekorPublicKeyData": "dGVzdC1yZWtvci1rZXktZGF0YQ==",
						"signedIdentity": {
						  "type": "remapIdentity",
						  "prefix": "test-remap-prefix",
						  "signedPrefix": "test-remap-signed-prefix"
						}
					  }
					]
				  },
				  "docker-daemon": {
					"": [
					  {
						"type": "insecureAcceptAnything"
					  }
					]
				  }
				}
			  }`;

/** helpers_test.go lines 2294-2435: TestUpdateNamespacedPolicyJSONs, expectTestnamespacedPolicy: the per-namespace policy of "testnamespace". */
export const NAMESPACED_TESTNAMESPACE = `		{
			"default": [
			  {
				"type": "insecureAcceptAnything"
			  }
			],
			"transports": {
			  "atomic": {
				"test0.com": [
				  {
					"type": "sigstoreSigned",
					"fulcio": {
					  "caData": "dGVzdC1jYS1kYXRhLWRhdGE=",
					  "oidcIssuer": "https://OIDC.example.com",
					  "subjectEmail": "test-user@example.com"
					},
					"rekorPublicKeyData": "dGVzdC1yZWtvci1rZXktZGF0YQ==",
					"signedIdentity": {
					  "type": "remapIdentity",
					  "prefix": "test-remap-prefix",
					  "signedPrefix": "test-remap-signed-prefix"
					}
				  },
				  {
					"type": "sigstoreSigned",
					"keyData": "dGVzdC1rZXktZGF0YQ==",
					"rekorPublicKeyData": "dGVzdC1yZWtvci1rZXktZGF0YQ==",
					"signedIdentity": {
					  "type": "remapIdentity",
					  "prefix": "test-remap-prefix",
					  "signedPrefix": "test-remap-signed-prefix"
					}
				  }
				],
				"test1.com": [
				  {
					"type": "sigstoreSigned",
					"keyData": "dGVzdC1rZXktZGF0YQ==",
					"rekorPublicKeyData": "dGVzdC1yZWtvci1rZXktZGF0YQ==",
					"signedIdentity": {
					  "type": "remapIdentity",
					  "prefix": "test-remap-prefix",
					  "signedPrefix": "test-remap-signed-prefix"
					}
				  }
				],
				"test2.com": [
				  {
					"type": "sigstoreSigned",
					"keyData": "dGVzdC1rZXktZGF0YQ==",
					"signedIdentity": {
					  "type": "matchRepoDigestOrExact"
					}
				  }
				],
                "test4.com/ns-policy/repo": [
                  {
					"type": "sigstoreSigned",
					"pki": {
					  "caRootsData": "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJBVEE9Ci0tLS0tRU5EIENFUlRJRklDQVRFLS0tLS0=",
					  "caIntermediatesData": "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJBVEE9Ci0tLS0tRU5EIENFUlRJRklDQVRFLS0tLS0=",
					  "subjectEmail": "test-user@example.com",
					  "subjectHostname": "my-host.example.com"
					},
					"signedIdentity": {
					  "type": "matchRepoDigestOrExact"
					}
				   }
				]
			  },
			  "docker": {
				"test0.com": [
				  {
					"type": "sigstoreSigned",
					"fulcio": {
					  "caData": "dGVzdC1jYS1kYXRhLWRhdGE=",
					  "oidcIssuer": "https://OIDC.example.com",
					  "subjectEmail": "test-user@example.com"
					},
					"rekorPublicKeyData": "dGVzdC1yZWtvci1rZXktZGF0YQ==",
					"signedIdentity": {
					  "type": "remapIdentity",
					  "prefix": "test-remap-prefix",
					  "signedPrefix": "test-remap-signed-prefix"
					}
				  },
				  {
					"type": "sigstoreSigned",
					"keyData": "dGVzdC1rZXktZGF0YQ==",
					"rekorPublicKeyData": "dGVzdC1yZWtvci1rZXktZGF0YQ==",
					"signedIdentity": {
					  "type": "remapIdentity",
					  "prefix": "test-remap-prefix",
					  "signedPrefix": "test-remap-signed-prefix"
					}
				  }
				],
				"test1.com": [
				  {
					"type": "sigstoreSigned",
					"keyData": "dGVzdC1rZXktZGF0YQ==",
					"rekorPublicKeyData": "dGVzdC1yZWtvci1rZXktZGF0YQ==",
					"signedIdentity": {
					  "type": "remapIdentity",
					  "prefix": "test-remap-prefix",
					  "signedPrefix": "test-remap-signed-prefix"
					}
				  }
				],
				"test2.com": [
				  {
					"type": "sigstoreSigned",
					"keyData": "dGVzdC1rZXktZGF0YQ==",
					"signedIdentity": {
					  "type": "matchRepoDigestOrExact"
					}
				  }
				],
                "test4.com/ns-policy/repo": [
                  {
					"type": "sigstoreSigned",
					"pki": {
					  "caRootsData": "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJBVEE9Ci0tLS0tRU5EIENFUlRJRklDQVRFLS0tLS0=",
					  "caIntermediatesData": "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJBVEE9Ci0tLS0tRU5EIENFUlRJRklDQVRFLS0tLS0=",
					  "subjectEmail": "test-user@example.com",
					  "subjectHostname": "my-host.example.com"
					},
					"signedIdentity": {
					  "type": "matchRepoDigestOrExact"
					}
				   }
				]
			  },
			  "docker-daemon": {
				"": [
				  {
					"type": "insecureAcceptAnything"
				  }
				]
			  }
			}
		  }`;

/** helpers_test.go lines 2439-2552: TestUpdateNamespacedPolicyJSONs, expectTest1namespacedPolicy: the per-namespace policy of "test-1-namespace". */
export const NAMESPACED_TEST_1_NAMESPACE = `		{
			"default": [
			  {
				"type": "insecureAcceptAnything"
			  }
			],
			"transports": {
			  "atomic": {
				"test0.com": [
				  {
					"type": "sigstoreSigned",
					"fulcio": {
					  "caData": "dGVzdC1jYS1kYXRhLWRhdGE=",
					  "oidcIssuer": "https://OIDC.example.com",
					  "subjectEmail": "test-user@example.com"
					},
					"rekorPublicKeyData": "dGVzdC1yZWtvci1rZXktZGF0YQ==",
					"signedIdentity": {
					  "type": "remapIdentity",
					  "prefix": "test-remap-prefix",
					  "signedPrefix": "test-remap-signed-prefix"
					}
				  },
				  {
					"type": "sigstoreSigned",
					"keyData": "dGVzdC1rZXktZGF0YQ==",
					"rekorPublicKeyData": "dGVzdC1yZWtvci1rZXktZGF0YQ==",
					"signedIdentity": {
					  "type": "remapIdentity",
					  "prefix": "test-remap-prefix",
					  "signedPrefix": "test-remap-signed-prefix"
					}
				  }
				],
				"test1.com": [
				  {
					"type": "sigstoreSigned",
					"keyData": "dGVzdC1rZXktZGF0YQ==",
					"rekorPublicKeyData": "dGVzdC1yZWtvci1rZXktZGF0YQ==",
					"signedIdentity": {
					  "type": "remapIdentity",
					  "prefix": "test-remap-prefix",
					  "signedPrefix": "test-remap-signed-prefix"
					}
				  }
				],
				"test3.com": [
				  {
					"type": "sigstoreSigned",
					"keyData": "dGVzdC1rZXktZGF0YQ==",
					"signedIdentity": {
					  "type": "matchRepoDigestOrExact"
					}
				  }
				]
			  },
			  "docker": {
				"test0.com": [
				  {
					"type": "sigstoreSigned",
					"fulcio": {
					  "caData": "dGVzdC1jYS1kYXRhLWRhdGE=",
					  "oidcIssuer": "https://OIDC.example.com",
					  "subjectEmail": "test-user@example.com"
					},
					"rekorPublicKeyData": "dGVzdC1yZWtvci1rZXktZGF0YQ==",
					"signedIdentity": {
					  "type": "remapIdentity",
					  "prefix": "test-remap-prefix",
					  "signedPrefix": "test-remap-signed-prefix"
					}
				  },
				  {
					"type": "sigstoreSigned",
					"keyData": "dGVzdC1rZXktZGF0YQ==",
					"rekorPublicKeyData": "dGVzdC1yZWtvci1rZXktZGF0YQ==",
					"signedIdentity": {
					  "type": "remapIdentity",
					  "prefix": "test-remap-prefix",
					  "signedPrefix": "test-remap-signed-prefix"
					}
				  }
				],
				"test1.com": [
				  {
					"type": "sigstoreSigned",
					"keyData": "dGVzdC1rZXktZGF0YQ==",
					"rekorPublicKeyData": "dGVzdC1yZWtvci1rZXktZGF0YQ==",
					"signedIdentity": {
					  "type": "remapIdentity",
					  "prefix": "test-remap-prefix",
					  "signedPrefix": "test-remap-signed-prefix"
					}
				  }
				],
				"test3.com": [
				  {
					"type": "sigstoreSigned",
					"keyData": "dGVzdC1rZXktZGF0YQ==",
					"signedIdentity": {
					  "type": "matchRepoDigestOrExact"
					}
				  }
				]
			  },
			  "docker-daemon": {
				"": [
				  {
					"type": "insecureAcceptAnything"
				  }
				]
			  }
			}
		  }`;

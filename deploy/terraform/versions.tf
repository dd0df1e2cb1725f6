# molops on AWS: an EKS cluster, a Postgres database (RDS) for runs and the model registry, an S3
# bucket for the tables and artifacts (SSE-KMS, versioned, never public), an ECR repository for the
# image, and the IAM role that the molops service account assumes (IRSA). A module: call it from
# your root configuration with your VPC's subnets (see deploy/README.md).
terraform {
  required_version = ">= 1.6"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.80"
    }
    tls = {
      source  = "hashicorp/tls"
      version = "~> 4.0"
    }
  }
}

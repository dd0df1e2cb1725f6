variable "name" {
  description = "Prefix of every resource's name, e.g. molops-prod."
  type        = string
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{2,30}$", var.name))
    error_message = "name must be 3-31 lowercase letters, digits or '-', starting with a letter."
  }
}

variable "vpc_id" {
  description = "The VPC the cluster and the database live in."
  type        = string
}

variable "private_subnet_ids" {
  description = "Private subnets (two or more availability zones) for the nodes and the database."
  type        = list(string)
  validation {
    condition     = length(var.private_subnet_ids) >= 2
    error_message = "private_subnet_ids needs subnets in at least two availability zones."
  }
}

variable "cluster_version" {
  description = "Kubernetes version of the EKS control plane."
  type        = string
  default     = "1.33"
}

variable "cluster_admin_cidrs" {
  description = "CIDR blocks allowed to reach the cluster's public API endpoint; empty: private endpoint only."
  type        = list(string)
  default     = []
}

variable "node_instance_types" {
  description = "Instance types of the managed node group."
  type        = list(string)
  default     = ["m7i.xlarge"]
}

variable "node_count" {
  description = "Desired, minimum and maximum size of the node group."
  type        = object({ desired = number, min = number, max = number })
  default     = { desired = 3, min = 2, max = 10 }
}

variable "namespace" {
  description = "Kubernetes namespace of molops (the prod overlay's)."
  type        = string
  default     = "molops"
}

variable "service_account" {
  description = "Kubernetes service account the molops pods run as."
  type        = string
  default     = "molops"
}

variable "db_instance_class" {
  description = "RDS instance class of the tracking database."
  type        = string
  default     = "db.t4g.medium"
}

variable "db_allocated_storage" {
  description = "Initial storage of the tracking database, in GiB."
  type        = number
  default     = 50
}

variable "log_bucket" {
  description = "Existing bucket that receives the data bucket's access logs."
  type        = string
}

variable "tags" {
  description = "Tags on every resource."
  type        = map(string)
  default     = {}
}

# Ephemeral spot GPU runners on AWS with philips-labs/terraform-aws-github-runner
# (docs/gpu-runners.md). One webhook, two runner configurations: pull requests and main get
# separate labels, runner groups and instances (docs/security.md). Each runner takes one job
# and its instance is terminated; nothing runs while no job waits.
#
# Written for the module's multi-runner interface (v5); check the input names against the
# version you pin, and download the lambda zips of that same release.

variable "aws_region" {
  type = string
}

variable "vpc_id" {
  type = string
}

variable "subnet_ids" {
  type = list(string)
}

variable "github_app" {
  description = "The GitHub App the runners register with: key_base64, id, webhook_secret."
  type = object({
    key_base64     = string
    id             = string
    webhook_secret = string
  })
  sensitive = true
}

locals {
  # AWS's Deep Learning Base AMI: Ubuntu with the NVIDIA driver, so nvidia-smi works.
  gpu_runner = {
    runner_os                      = "linux"
    runner_architecture            = "x64"
    enable_ephemeral_runners       = true
    enable_organization_runners    = true
    instance_types                 = ["g4dn.xlarge", "g5.xlarge"]
    instance_target_capacity_type  = "spot"
    runners_maximum_count          = 4
    scale_down_schedule_expression = "cron(* * * * ? *)"
    ami_owners                     = ["amazon"]
    ami_filter = {
      name  = ["Deep Learning Base OSS Nvidia Driver GPU AMI (Ubuntu 22.04) *"]
      state = ["available"]
    }
    runner_run_as = "ubuntu"
    block_device_mappings = [{
      device_name           = "/dev/sda1"
      volume_size           = 100
      volume_type           = "gp3"
      encrypted             = true
      delete_on_termination = true
    }]
  }
  # One entry per runner group: pull requests never share machines with main.
  groups = {
    "ci-ml-gpu-pr"   = 4
    "ci-ml-gpu-main" = 2
  }
}

module "github_runners" {
  source  = "philips-labs/github-runner/aws//modules/multi-runner"
  version = "~> 5.0"

  aws_region = var.aws_region
  vpc_id     = var.vpc_id
  subnet_ids = var.subnet_ids
  prefix     = "ci-ml"
  github_app = var.github_app

  webhook_lambda_zip                = "lambdas/webhook.zip"
  runner_binaries_syncer_lambda_zip = "lambdas/runner-binaries-syncer.zip"
  runners_lambda_zip                = "lambdas/runners.zip"

  multi_runner_config = {
    for group, max in local.groups : group => {
      matcherConfig = {
        labelMatchers = [["self-hosted", "linux", "x64", group]]
        exactMatch    = true
      }
      runner_config = merge(local.gpu_runner, {
        runner_extra_labels   = [group]
        runner_group_name     = group
        runner_name_prefix    = "${group}-"
        runners_maximum_count = max
      })
    }
  }
}

output "webhook_endpoint" {
  description = "Set it as the GitHub App's webhook URL."
  value       = module.github_runners.webhook.endpoint
}
